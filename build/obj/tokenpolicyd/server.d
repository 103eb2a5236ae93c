build/obj/tokenpolicyd/server.o: tokenpolicyd/server.c \
 tokenpolicyd/daemon.h tokenpolicyd/config.h common/proto.h \
 tokenpolicyd/store.h tokenpolicyd/token.h tokenpolicyd/account.h \
 common/io.h tokenpolicyd/log.h
tokenpolicyd/daemon.h:
tokenpolicyd/config.h:
common/proto.h:
tokenpolicyd/store.h:
tokenpolicyd/token.h:
tokenpolicyd/account.h:
common/io.h:
tokenpolicyd/log.h:
