// woundphase command-line entry point: a few lines that build the app and turn errors into codes.
#include <malloc.h>  // for mallopt

#include <cstdio>

int main(int argc, char** argv) {
  // glibc returns large buffers to the OS on every free; on these VMs the page faults make
  // training many times slower (TOOLCHAIN.md pitfall 1), so keep freed memory mapped.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
  (void)argc;
  (void)argv;
  std::puts("woundphase " WOUNDPHASE_VERSION);
  return 0;
}
