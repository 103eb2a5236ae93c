build/obj/tokenpolicyd/token.o: tokenpolicyd/token.c tokenpolicyd/token.h \
 common/proto.h
tokenpolicyd/token.h:
common/proto.h:
