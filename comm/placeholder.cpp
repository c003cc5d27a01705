// comm/README.cpp — placeholder translation unit so the comm library exists before its first real source file.
