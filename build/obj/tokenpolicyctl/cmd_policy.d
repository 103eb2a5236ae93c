build/obj/tokenpolicyctl/cmd_policy.o: tokenpolicyctl/cmd_policy.c \
 tokenpolicyctl/ctl.h common/proto.h
tokenpolicyctl/ctl.h:
common/proto.h:
