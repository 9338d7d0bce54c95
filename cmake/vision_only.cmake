# WOUNDPHASE_VISION_ONLY=ON: only the image-network library (libwoundphase_vision.so), the GPU
# check (woundphase_gpu_check) and, when GoogleTest is found or its sources are given, the vision
# and fusion tests. It needs libtorch and fmt alone (no SQLite, XGBoost, OpenCV, spdlog, CLI11), so
# it builds on a GPU machine that has PyTorch (and so a CUDA libtorch) but not this project's
# Debian packages: bench/gpu.sh does that.
#
#   cmake -S . -B build-gpu -DWOUNDPHASE_VISION_ONLY=ON \
#     -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
#     [-DWOUNDPHASE_FMT_INCLUDE_DIR=DIR] [-DWOUNDPHASE_GTEST_SOURCE=DIR]
set(WOUNDPHASE_FMT_INCLUDE_DIR "" CACHE PATH
    "folder holding fmt/format.h, used header-only when no fmt package is found")
set(WOUNDPHASE_GTEST_SOURCE "" CACHE PATH
    "GoogleTest sources (e.g. Debian's /usr/src/googletest) when no GTest package is found")

find_package(Torch REQUIRED)
# PyTorch's libtorch fixes the std::string ABI: everything here is built with its flags, since
# settings holding strings cross between the tests, the loader and the library.
string(APPEND CMAKE_CXX_FLAGS " ${TORCH_CXX_FLAGS}")
message(STATUS "vision-only build against libtorch ${Torch_VERSION} (${TORCH_CXX_FLAGS})")

# fmt: header-only from WOUNDPHASE_FMT_INCLUDE_DIR when given (libtorch's include folders may hold
# another fmt's headers without its library, so ours go first), else the fmt package.
if(WOUNDPHASE_FMT_INCLUDE_DIR)
  if(NOT EXISTS "${WOUNDPHASE_FMT_INCLUDE_DIR}/fmt/format.h")
    message(FATAL_ERROR "WOUNDPHASE_FMT_INCLUDE_DIR: no fmt/format.h in ${WOUNDPHASE_FMT_INCLUDE_DIR}")
  endif()
  include_directories(BEFORE ${WOUNDPHASE_FMT_INCLUDE_DIR})
  add_library(woundphase_fmt INTERFACE)
  target_compile_definitions(woundphase_fmt INTERFACE FMT_HEADER_ONLY=1)
  add_library(fmt::fmt ALIAS woundphase_fmt)
else()
  find_package(fmt CONFIG REQUIRED)
endif()

# The core and metrics stages (seeds, class weights, QWK, errors; fmt only), position-independent:
# linked into the library as in the full build, and into the tests' program side.
file(GLOB kernel_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/core/*.cpp
     ${CMAKE_SOURCE_DIR}/src/metrics/*.cpp)
add_library(wp_kernel STATIC ${kernel_sources})
set_target_properties(wp_kernel PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(wp_kernel PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(wp_kernel PUBLIC fmt::fmt)

file(GLOB vision_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/vision/*.cpp
     ${CMAKE_SOURCE_DIR}/src/fusion/*.cpp)
add_library(woundphase_vision SHARED ${vision_sources})
target_include_directories(woundphase_vision PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(woundphase_vision PUBLIC ${TORCH_LIBRARIES} PRIVATE wp_kernel fmt::fmt)
target_link_options(woundphase_vision PRIVATE -Wl,--exclude-libs,libwp_kernel.a)

add_executable(woundphase_gpu_check ${CMAKE_SOURCE_DIR}/bench/gpu/gpu_check.cpp)
target_include_directories(woundphase_gpu_check PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(woundphase_gpu_check PRIVATE woundphase_vision fmt::fmt)

find_package(GTest CONFIG QUIET)
if(NOT GTest_FOUND AND EXISTS "${WOUNDPHASE_GTEST_SOURCE}/CMakeLists.txt")
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(${WOUNDPHASE_GTEST_SOURCE} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
  if(NOT TARGET GTest::gtest)  # googletest 1.11+ defines it itself
    add_library(GTest::gtest ALIAS gtest)
  endif()
  set(GTest_FOUND TRUE)
endif()
if(NOT GTest_FOUND)
  message(STATUS "GoogleTest not found: the vision tests are not built")
  return()
endif()
# The program side the tests use: the loader (dlopen of the library next to the test), the core
# and the metrics.
add_library(wp_vision_client STATIC ${CMAKE_SOURCE_DIR}/src/experiment/vision_loader.cpp
            ${CMAKE_SOURCE_DIR}/src/experiment/fusion_loader.cpp
            ${CMAKE_SOURCE_DIR}/src/vision/vision_settings.cpp
            ${CMAKE_SOURCE_DIR}/src/fusion/fusion_settings.cpp)
target_include_directories(wp_vision_client PUBLIC ${CMAKE_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(wp_vision_client PUBLIC wp_kernel fmt::fmt ${CMAKE_DL_LIBS})
file(GLOB vision_test_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/vision/*.cpp
     ${CMAKE_SOURCE_DIR}/tests/fusion/*.cpp)
add_executable(test_vision ${vision_test_sources} ${CMAKE_SOURCE_DIR}/tests/test_paths.cpp)
target_include_directories(test_vision PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_vision PRIVATE woundphase_vision wp_vision_client GTest::gtest)
target_compile_definitions(test_vision PRIVATE WOUNDPHASE_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
                           WOUNDPHASE_BINARY="${CMAKE_BINARY_DIR}/woundphase")
