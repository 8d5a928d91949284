# FindTurboJPEG: libjpeg-turbo's TurboJPEG API, found whichever way works on this machine, as the
# imported target TurboJPEG::TurboJPEG. byol's build and its installed byolConfig.cmake use it.
#
#   1. libjpeg-turbo's own CMake package (libjpeg-turbo::turbojpeg), when it loads: some
#      distributions ship a package whose targets file names files that their -dev package does
#      not install (Debian 13: libjpeg.a), and CMake stops at such a file. The package is first
#      tried in a scratch configure, so a broken one is skipped instead of ending ours.
#   2. pkg-config's libturbojpeg.
#   3. the header turbojpeg.h and the library turbojpeg.
#
# Sets TurboJPEG_FOUND and TurboJPEG_METHOD (config, pkg-config or library).

if(TARGET TurboJPEG::TurboJPEG)
  set(TurboJPEG_FOUND TRUE)
  return()
endif()

set(_byol_tj_target "")

# 1. The CMake package, when it can be loaded.
if(TARGET libjpeg-turbo::turbojpeg)
  set(_byol_tj_target libjpeg-turbo::turbojpeg)
  set(TurboJPEG_METHOD config)
else()
  find_path(TurboJPEG_CONFIG_DIR NAMES libjpeg-turboConfig.cmake libjpeg-turbo-config.cmake
            PATH_SUFFIXES lib/cmake/libjpeg-turbo lib64/cmake/libjpeg-turbo
                          lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake/libjpeg-turbo)
  mark_as_advanced(TurboJPEG_CONFIG_DIR)
  if(TurboJPEG_CONFIG_DIR AND NOT DEFINED TurboJPEG_CONFIG_LOADS_${TurboJPEG_CONFIG_DIR})
    set(_byol_tj_probe ${CMAKE_BINARY_DIR}/CMakeFiles/byol-turbojpeg-probe)
    file(MAKE_DIRECTORY ${_byol_tj_probe})
    file(WRITE ${_byol_tj_probe}/CMakeLists.txt
         "cmake_minimum_required(VERSION 3.18)\nproject(probe NONE)\n"
         "find_package(libjpeg-turbo CONFIG REQUIRED PATHS \"${TurboJPEG_CONFIG_DIR}\" NO_DEFAULT_PATH)\n"
         "if(NOT TARGET libjpeg-turbo::turbojpeg)\n  message(FATAL_ERROR \"no turbojpeg target\")\nendif()\n")
    execute_process(COMMAND ${CMAKE_COMMAND} -S ${_byol_tj_probe} -B ${_byol_tj_probe}/build
                    RESULT_VARIABLE _byol_tj_rc OUTPUT_QUIET ERROR_QUIET)
    file(REMOVE_RECURSE ${_byol_tj_probe})
    if(_byol_tj_rc EQUAL 0)
      set(TurboJPEG_CONFIG_LOADS_${TurboJPEG_CONFIG_DIR} TRUE CACHE INTERNAL "")
    else()
      set(TurboJPEG_CONFIG_LOADS_${TurboJPEG_CONFIG_DIR} FALSE CACHE INTERNAL "")
      if(NOT TurboJPEG_FIND_QUIETLY)
        message(STATUS "TurboJPEG: libjpeg-turbo's CMake package in ${TurboJPEG_CONFIG_DIR} does not load "
                       "(it names files that are not installed); trying pkg-config")
      endif()
    endif()
  endif()
  if(TurboJPEG_CONFIG_DIR AND TurboJPEG_CONFIG_LOADS_${TurboJPEG_CONFIG_DIR})
    find_package(libjpeg-turbo CONFIG QUIET PATHS "${TurboJPEG_CONFIG_DIR}" NO_DEFAULT_PATH)
    if(TARGET libjpeg-turbo::turbojpeg)
      set(_byol_tj_target libjpeg-turbo::turbojpeg)
      set(TurboJPEG_METHOD config)
    endif()
  endif()
endif()

# 2. pkg-config.
if(NOT _byol_tj_target)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(BYOL_TURBOJPEG QUIET IMPORTED_TARGET libturbojpeg)
    if(TARGET PkgConfig::BYOL_TURBOJPEG)
      set(_byol_tj_target PkgConfig::BYOL_TURBOJPEG)
      set(TurboJPEG_METHOD pkg-config)
    endif()
  endif()
endif()

# 3. The header and the library.
if(NOT _byol_tj_target)
  find_path(TurboJPEG_INCLUDE_DIR NAMES turbojpeg.h)
  find_library(TurboJPEG_LIBRARY NAMES turbojpeg)
  mark_as_advanced(TurboJPEG_INCLUDE_DIR TurboJPEG_LIBRARY)
  if(TurboJPEG_INCLUDE_DIR AND TurboJPEG_LIBRARY)
    add_library(TurboJPEG::library UNKNOWN IMPORTED)
    set_target_properties(TurboJPEG::library PROPERTIES
      IMPORTED_LOCATION "${TurboJPEG_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${TurboJPEG_INCLUDE_DIR}")
    set(_byol_tj_target TurboJPEG::library)
    set(TurboJPEG_METHOD library)
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TurboJPEG REQUIRED_VARS _byol_tj_target TurboJPEG_METHOD)
if(TurboJPEG_FOUND)
  add_library(TurboJPEG::TurboJPEG INTERFACE IMPORTED)
  set_target_properties(TurboJPEG::TurboJPEG PROPERTIES INTERFACE_LINK_LIBRARIES ${_byol_tj_target})
endif()
unset(_byol_tj_target)
