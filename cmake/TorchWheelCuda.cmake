# CUDA for a PyPI torch wheel's LibTorch without a CUDA toolkit (scripts/build-torch2.sh).
#
# PyPI's Linux x86_64 torch wheel is a CUDA build: its Caffe2Config.cmake includes
# Caffe2/public/cuda.cmake, which needs a full toolkit (FindCUDA, nvcc, enable_language(CUDA)) and
# fails the whole find_package(Torch) without one. The nvidia-*-cu12 wheels that torch depends on
# carry the runtime's headers and libraries but no nvcc (nvidia-cuda-nvcc-cu12 holds only ptxas,
# libdevice and the crt/ headers),
# and this project compiles no CUDA code: it only includes c10/cuda and cuda_runtime_api.h and
# links c10_cuda, torch_cuda and cudart. So this file defines, before find_package(Torch), the
# targets cuda.cmake would have made; cuda.cmake returns at its include guard (TARGET
# torch::cudart) and the rest of Torch's config proceeds as with a toolkit.
#
# EAOS_TORCH_WHEEL_CUDA: the venv's site-packages/nvidia folder (the nvidia-*-cu12 wheels).

set(_eaos_nv "${EAOS_TORCH_WHEEL_CUDA}")
if(NOT EXISTS "${_eaos_nv}/cuda_runtime/include/cuda_runtime_api.h")
  message(FATAL_ERROR "EAOS_TORCH_WHEEL_CUDA=${_eaos_nv}: no cuda_runtime/include/cuda_runtime_api.h "
                      "(expected site-packages/nvidia of a venv with PyPI's torch)")
endif()
find_library(EAOS_WHEEL_CUDART NAMES cudart libcudart.so.12 libcudart.so.13
             PATHS "${_eaos_nv}/cuda_runtime/lib" NO_DEFAULT_PATH REQUIRED)

# Every wheel's headers (cuda_runtime, cublas, cusparse, cusolver, cudnn, nvtx, ...): ATen's CUDA
# headers include several of them. cuda_runtime_api.h includes crt/host_defines.h, which only
# nvidia-cuda-nvcc-cu12 carries (not a dependency of torch: scripts/build-torch2.sh installs it).
file(GLOB _eaos_nv_includes LIST_DIRECTORIES true "${_eaos_nv}/*/include")
if(NOT EXISTS "${_eaos_nv}/cuda_nvcc/include/crt/host_defines.h")
  message(FATAL_ERROR "EAOS_TORCH_WHEEL_CUDA=${_eaos_nv}: no cuda_nvcc/include/crt/host_defines.h "
                      "(pip install nvidia-cuda-nvcc-cu12 of the runtime's CUDA version)")
endif()

# The CUDA version from the runtime's header (what cuda.cmake would have reported).
file(STRINGS "${_eaos_nv}/cuda_runtime/include/cuda_runtime_api.h" _eaos_cudart_version
     REGEX "^#define CUDART_VERSION +[0-9]+")
string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _eaos_cudart_version "${_eaos_cudart_version}")
math(EXPR _eaos_cuda_major "${_eaos_cudart_version} / 1000")
math(EXPR _eaos_cuda_minor "(${_eaos_cudart_version} % 1000) / 10")
set(CUDA_VERSION "${_eaos_cuda_major}.${_eaos_cuda_minor}")
set(CUDA_FOUND TRUE)
set(CUDA_INCLUDE_DIRS ${_eaos_nv_includes})

add_library(CUDA::cudart SHARED IMPORTED)
set_target_properties(CUDA::cudart PROPERTIES
  IMPORTED_LOCATION "${EAOS_WHEEL_CUDART}"
  INTERFACE_INCLUDE_DIRECTORIES "${_eaos_nv_includes}")
# The targets of Caffe2/public/cuda.cmake that Torch's exported targets and TorchConfig use.
add_library(torch::cudart INTERFACE IMPORTED)
set_property(TARGET torch::cudart PROPERTY INTERFACE_LINK_LIBRARIES CUDA::cudart)
if(EXISTS "${_eaos_nv}/nvtx/include/nvtx3")
  add_library(torch::nvtx3 INTERFACE IMPORTED)
  set_target_properties(torch::nvtx3 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_eaos_nv}/nvtx/include"
    INTERFACE_COMPILE_DEFINITIONS TORCH_CUDA_USE_NVTX3)
endif()
# TorchConfig appends it to TORCH_CUDA_LIBRARIES; libtorch_cuda finds its own nvrtc at run time.
set(CUDA_NVRTC_LIB "" CACHE FILEPATH "")
message(STATUS "CUDA ${CUDA_VERSION} runtime from the torch wheel's nvidia-* wheels in ${_eaos_nv} "
               "(no toolkit, no nvcc: nothing here compiles CUDA)")
