build/obj/tokenpolicyctl/output.o: tokenpolicyctl/output.c \
 tokenpolicyctl/ctl.h common/proto.h
tokenpolicyctl/ctl.h:
common/proto.h:
