// Anchor of the tests' shared precompiled header (an executable, so that it is built with the tests' flags).
int main() { return 0; }
