build/obj/tokenpolicyctl/client.o: tokenpolicyctl/client.c \
 tokenpolicyctl/ctl.h common/proto.h common/io.h
tokenpolicyctl/ctl.h:
common/proto.h:
common/io.h:
