build-asan/obj/common/wire.o: common/wire.c common/wire.h
common/wire.h:
