# UZ_CUDA=AUTO|ON|OFF: the CUDA backend (core/cuda/*.cu) for sm_90 with a PTX
# fallback, built when nvcc is found (AUTO) or required (ON).
set(UZ_HAVE_CUDA OFF)
if(NOT UZ_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90) # sm_90 SASS plus compute_90 PTX
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # cuDNN ships outside the toolkit's CMake config; it may sit in the
    # toolkit's lib/ or lib64/, in a system directory, or in a pip wheel
    # (nvidia-cudnn-cu13, found through CUDNN_ROOT).
    find_path(UZ_CUDNN_INCLUDE cudnn.h
      HINTS ENV CUDNN_ROOT ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
      PATH_SUFFIXES include)
    find_library(UZ_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
      HINTS ENV CUDNN_ROOT ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
      PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
    if(UZ_CUDNN_INCLUDE AND UZ_CUDNN_LIBRARY)
      set(UZ_HAVE_CUDA ON)
    elseif(UZ_CUDA STREQUAL "ON")
      message(FATAL_ERROR "UZ_CUDA=ON but cuDNN (cudnn.h, libcudnn) was not found: install cuDNN 9 or set CUDNN_ROOT")
    else()
      message(STATUS "nvcc found but not cuDNN: building without the CUDA backend")
    endif()
  elseif(UZ_CUDA STREQUAL "ON")
    message(FATAL_ERROR "UZ_CUDA=ON but no CUDA compiler (nvcc) was found: install the CUDA Toolkit or set UZ_CUDA=OFF")
  endif()
endif()
message(STATUS "unizoo CUDA backend: ${UZ_HAVE_CUDA}")

function(uz_attach_cuda target)
  if(UZ_HAVE_CUDA)
    file(GLOB cuda_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/core/cuda/*.cu)
    target_sources(${target} PRIVATE ${cuda_sources})
    target_compile_definitions(${target} PUBLIC UZ_HAVE_CUDA)
    target_include_directories(${target} PRIVATE ${UZ_CUDNN_INCLUDE})
    target_link_libraries(${target} PUBLIC CUDA::cudart CUDA::cublas CUDA::cublasLt
                          ${UZ_CUDNN_LIBRARY})
    # C++20 for designated initializers in the kernel tables (members a
    # family does not name stay NULL), given as a flag: CMake 3.25 knows no
    # CUDA20 dialect for nvcc. No fast math: the CUDA kernels are checked
    # against the CPU's at f32 rounding.
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 -Xcompiler=-Wall,-Wextra --expt-relaxed-constexpr>)
    if(UZ_WERROR)
      target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Werror>)
    endif()
  endif()
endfunction()
