build/obj/tokenpolicyctl/tokenpolicyctl.o: \
 tokenpolicyctl/tokenpolicyctl.c tokenpolicyctl/ctl.h common/proto.h
tokenpolicyctl/ctl.h:
common/proto.h:
