build/obj/tokenpolicyd/account.o: tokenpolicyd/account.c \
 tokenpolicyd/account.h
tokenpolicyd/account.h:
