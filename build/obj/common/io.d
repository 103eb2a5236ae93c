build/obj/common/io.o: common/io.c common/io.h common/proto.h
common/io.h:
common/proto.h:
