build/obj/tokenpolicyd/log.o: tokenpolicyd/log.c tokenpolicyd/log.h
tokenpolicyd/log.h:
