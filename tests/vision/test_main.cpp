// The vision tests' entry point: the allocator settings main() applies in the program (without
// them libtorch training is several times slower here), then every case in this one process.
#include <gtest/gtest.h>
#include <malloc.h>  // for mallopt

int main(int argc, char** argv) {
  constexpr int kNeverTrim = 0x7fffffff;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, kNeverTrim);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
