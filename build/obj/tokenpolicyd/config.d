build/obj/tokenpolicyd/config.o: tokenpolicyd/config.c \
 tokenpolicyd/config.h common/proto.h
tokenpolicyd/config.h:
common/proto.h:
