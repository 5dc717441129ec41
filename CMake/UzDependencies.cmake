# Finds every dependency through pkg-config (or CMake's own modules) and
# stops configure with the Debian package to install when one is missing.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

# uz_require_pkg(<target suffix> <pkg-config name> <Debian package>)
function(uz_require_pkg name pcname debpkg)
  pkg_check_modules(UZ_PC_${name} QUIET IMPORTED_TARGET GLOBAL ${pcname})
  if(NOT UZ_PC_${name}_FOUND)
    message(FATAL_ERROR "${pcname} not found: apt-get install ${debpkg}")
  endif()
  add_library(uz::${name} ALIAS PkgConfig::UZ_PC_${name})
endfunction()

uz_require_pkg(openblas openblas libopenblas-openmp-dev)
uz_require_pkg(cjson libcjson libcjson-dev)
uz_require_pkg(turbojpeg libturbojpeg libturbojpeg0-dev)
uz_require_pkg(stb stb libstb-dev)
uz_require_pkg(sentencepiece sentencepiece libsentencepiece-dev)

find_package(OpenMP COMPONENTS C)
if(NOT OpenMP_C_FOUND)
  message(FATAL_ERROR "OpenMP not found: apt-get install gcc (libgomp1)")
endif()
find_package(ZLIB)
if(NOT ZLIB_FOUND)
  message(FATAL_ERROR "zlib not found: apt-get install zlib1g-dev")
endif()
# MPI (data-parallel training); MPIEXEC_EXECUTABLE also runs the 2-rank test.
find_package(MPI COMPONENTS C)
if(NOT MPI_C_FOUND OR NOT MPIEXEC_EXECUTABLE)
  message(FATAL_ERROR "MPI not found: apt-get install libopenmpi-dev openmpi-bin")
endif()

if(UZ_TESTS)
  uz_require_pkg(check check "check libsubunit-dev")
endif()
