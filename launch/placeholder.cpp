// launch/README.cpp — placeholder translation unit so the launch library exists before its first real source file.
