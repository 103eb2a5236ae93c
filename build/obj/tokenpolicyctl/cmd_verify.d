build/obj/tokenpolicyctl/cmd_verify.o: tokenpolicyctl/cmd_verify.c \
 tokenpolicyctl/ctl.h common/proto.h tokenpolicyd/token.h
tokenpolicyctl/ctl.h:
common/proto.h:
tokenpolicyd/token.h:
