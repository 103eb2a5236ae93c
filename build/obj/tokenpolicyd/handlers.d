build/obj/tokenpolicyd/handlers.o: tokenpolicyd/handlers.c \
 tokenpolicyd/daemon.h tokenpolicyd/config.h common/proto.h \
 tokenpolicyd/store.h tokenpolicyd/token.h tokenpolicyd/account.h \
 tokenpolicyd/log.h tokenpolicyd/policy.h
tokenpolicyd/daemon.h:
tokenpolicyd/config.h:
common/proto.h:
tokenpolicyd/store.h:
tokenpolicyd/token.h:
tokenpolicyd/account.h:
tokenpolicyd/log.h:
tokenpolicyd/policy.h:
