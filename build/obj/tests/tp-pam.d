build/obj/tests/tp-pam.o: tests/tp-pam.c
