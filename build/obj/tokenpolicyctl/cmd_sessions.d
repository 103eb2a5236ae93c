build/obj/tokenpolicyctl/cmd_sessions.o: tokenpolicyctl/cmd_sessions.c \
 tokenpolicyctl/ctl.h common/proto.h
tokenpolicyctl/ctl.h:
common/proto.h:
