build/obj/tokenpolicyd/main.o: tokenpolicyd/main.c tokenpolicyd/daemon.h \
 tokenpolicyd/config.h common/proto.h tokenpolicyd/store.h \
 tokenpolicyd/token.h tokenpolicyd/log.h
tokenpolicyd/daemon.h:
tokenpolicyd/config.h:
common/proto.h:
tokenpolicyd/store.h:
tokenpolicyd/token.h:
tokenpolicyd/log.h:
