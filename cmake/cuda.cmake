# cmake/cuda.cmake — SWITCHYARD_CUDA = AUTO | ON | OFF: finds nvcc, the CUDA toolkit (cudart, cuBLASLt) and NCCL,
# and builds the CUDA backend as the library sy_cuda.  Sets SWITCHYARD_HAVE_CUDA.
#   AUTO (default)  build it when everything is found, else say what is missing and build without it
#   ON              fail the configure when something is missing
#   OFF             do not look
set(SWITCHYARD_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO (when nvcc, CUDA toolkit and NCCL are found), ON, OFF")
set_property(CACHE SWITCHYARD_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${SWITCHYARD_CUDA}" cuda_mode)
if(cuda_mode MATCHES "^(ON|TRUE|YES|1)$")
  set(cuda_mode ON)
elseif(cuda_mode MATCHES "^(OFF|FALSE|NO|0)$")
  set(cuda_mode OFF)
elseif(NOT cuda_mode STREQUAL "AUTO")
  message(FATAL_ERROR "SWITCHYARD_CUDA = ${SWITCHYARD_CUDA}: expected AUTO, ON or OFF")
endif()

set(SWITCHYARD_HAVE_CUDA OFF)
if(cuda_mode STREQUAL "OFF")
  message(STATUS "switchyard: CUDA backend not built (SWITCHYARD_CUDA=OFF)")
else()
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib /usr/local/cuda/lib)
  set(cuda_missing "")
  if(NOT CMAKE_CUDA_COMPILER)
    list(APPEND cuda_missing "nvcc")
  endif()
  if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublasLt)
    list(APPEND cuda_missing "CUDA toolkit with cuBLASLt")
  endif()
  if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
    list(APPEND cuda_missing "NCCL (nccl.h, libnccl)")
  endif()
  if(cuda_missing STREQUAL "")
    set(SWITCHYARD_HAVE_CUDA ON)
  elseif(cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "SWITCHYARD_CUDA=ON but not found: ${cuda_missing}")
  else()
    message(STATUS "switchyard: CUDA backend not built (not found: ${cuda_missing})")
  endif()
endif()

# runtime/device.h's probe lives in sy_runtime (its callers do), so a static link
# never meets it before its caller: cuda_present.cpp (asks cudart) or cuda_absent.cpp.
# Without the backend, comm/device_transport.h's stub goes into sy_comm the same way.
if(SWITCHYARD_HAVE_CUDA)
  target_sources(sy_runtime PRIVATE ${CMAKE_SOURCE_DIR}/runtime/device/cuda_present.cpp)
  target_link_libraries(sy_runtime PUBLIC CUDA::cudart)
else()
  target_sources(sy_runtime PRIVATE ${CMAKE_SOURCE_DIR}/runtime/device/cuda_absent.cpp)
  target_sources(sy_comm PRIVATE ${CMAKE_SOURCE_DIR}/comm/device_transport/nccl_absent.cpp)
endif()

if(SWITCHYARD_HAVE_CUDA)
  # A100 and H100; override with -DCMAKE_CUDA_ARCHITECTURES=...
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  enable_language(CUDA)
  # CMake 3.25 does not know nvcc's C++20 flag (newer CMake does); without it, CUDA
  # sources, which take the CXX_STANDARD 20 of their target, fail to generate.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "switchyard: CUDA backend built (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
                 "${CMAKE_CUDA_ARCHITECTURES}, NCCL ${NCCL_LIBRARY})")

  file(GLOB cuda_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/runtime/cuda/*.cu ${CMAKE_SOURCE_DIR}/runtime/cuda/*.cpp
       ${CMAKE_SOURCE_DIR}/comm/nccl/*.cpp)
  add_library(sy_cuda STATIC ${cuda_srcs})
  target_include_directories(sy_cuda PUBLIC ${CMAKE_SOURCE_DIR} ${NCCL_INCLUDE_DIR})
  target_compile_options(sy_cuda PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${SWITCHYARD_WARNINGS}>
                         $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  target_link_libraries(sy_cuda PUBLIC sy_comm CUDA::cudart CUDA::cublasLt ${NCCL_LIBRARY})
endif()
