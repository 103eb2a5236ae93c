build/obj/tokenpolicyctl/cmd_admin.o: tokenpolicyctl/cmd_admin.c \
 tokenpolicyctl/ctl.h common/proto.h
tokenpolicyctl/ctl.h:
common/proto.h:
