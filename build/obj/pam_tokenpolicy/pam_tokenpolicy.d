build/obj/pam_tokenpolicy/pam_tokenpolicy.o: \
 pam_tokenpolicy/pam_tokenpolicy.c common/io.h common/proto.h
common/io.h:
common/proto.h:
