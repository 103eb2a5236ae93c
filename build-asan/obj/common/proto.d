build-asan/obj/common/proto.o: common/proto.c common/proto.h \
 common/wire.h
common/proto.h:
common/wire.h:
