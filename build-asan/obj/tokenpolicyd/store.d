build-asan/obj/tokenpolicyd/store.o: tokenpolicyd/store.c \
 tokenpolicyd/store.h common/proto.h
tokenpolicyd/store.h:
common/proto.h:
