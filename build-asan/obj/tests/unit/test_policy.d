build-asan/obj/tests/unit/test_policy.o: tests/unit/test_policy.c \
 tokenpolicyd/config.h common/proto.h tokenpolicyd/policy.h
tokenpolicyd/config.h:
common/proto.h:
tokenpolicyd/policy.h:
