build-asan/obj/tests/unit/test_wire.o: tests/unit/test_wire.c common/io.h \
 common/proto.h common/wire.h
common/io.h:
common/proto.h:
common/wire.h:
