build-asan/obj/tokenpolicyd/policy.o: tokenpolicyd/policy.c \
 tokenpolicyd/policy.h tokenpolicyd/config.h common/proto.h
tokenpolicyd/policy.h:
tokenpolicyd/config.h:
common/proto.h:
