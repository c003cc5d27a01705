// io/README.cpp — placeholder translation unit so the io library exists before its first real source file.
