build/obj/tests/unit/test_store.o: tests/unit/test_store.c \
 tokenpolicyd/store.h common/proto.h
tokenpolicyd/store.h:
common/proto.h:
