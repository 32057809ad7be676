# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Install and export rules (included when SLUICE_INSTALL is ON).
#
# Installed layout:
#   include/sluice/*.h                     public headers (not sluice/testing/)
#   <libdir>/libsluice.{a,so}              sluice::core
#   <libdir>/cmake/sluice/                 sluiceConfig.cmake, sluiceConfigVersion.cmake,
#                                          sluice-<comp>-targets.cmake (one per component)
#   <libdir>/pkgconfig/sluice.pc
#
# Each library is one component with its own export set `sluice-<comp>-targets`,
# so a backend (redis, postgres, ...) adds
#   install(TARGETS sluice_<comp> EXPORT sluice-<comp>-targets COMPONENT <comp> ...)
#   sluice_install_export(<comp>)
# and sluiceConfig.cmake picks it up through `find_package(sluice COMPONENTS <comp>)`.
#
# The build tree is a usable package too: point sluice_DIR (or CMAKE_PREFIX_PATH)
# at the build directory.

include(CMakePackageConfigHelpers)

set(SLUICE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/sluice" CACHE STRING
    "Where sluiceConfig.cmake and the exported targets are installed (relative to the prefix)")
mark_as_advanced(SLUICE_INSTALL_CMAKEDIR)

# sluice_install_export(<comp>): installs export set sluice-<comp>-targets and
# writes its build-tree counterpart next to the build-tree sluiceConfig.cmake.
function(sluice_install_export comp)
  install(EXPORT sluice-${comp}-targets
    NAMESPACE sluice::
    FILE sluice-${comp}-targets.cmake
    DESTINATION "${SLUICE_INSTALL_CMAKEDIR}"
    COMPONENT ${comp})
  export(EXPORT sluice-${comp}-targets
    NAMESPACE sluice::
    FILE "${PROJECT_BINARY_DIR}/sluice-${comp}-targets.cmake")
endfunction()

# sluice_core links the INTERFACE target sluice_warnings PRIVATE. For a static
# library CMake records that as `$<LINK_ONLY:sluice_warnings>` in the interface
# (it carries nothing to link: only compile flags, which LINK_ONLY drops), and
# install(EXPORT) then insists on exporting sluice_warnings too. Drop that no-op
# entry so the warnings target stays internal. (Harmless when absent, e.g. for
# a shared library or once src/ stops linking it this way.)
foreach(_sluice_lib sluice_core sluice_redis sluice_zstd sluice_rocksdb)
  if(NOT TARGET ${_sluice_lib})
    continue()
  endif()
  get_target_property(_sluice_iface ${_sluice_lib} INTERFACE_LINK_LIBRARIES)
  if(_sluice_iface)
    list(REMOVE_ITEM _sluice_iface "$<LINK_ONLY:sluice_warnings>")
    set_property(TARGET ${_sluice_lib} PROPERTY INTERFACE_LINK_LIBRARIES "${_sluice_iface}")
  endif()
endforeach()
unset(_sluice_iface)
unset(_sluice_lib)

# --- core ---------------------------------------------------------------------
install(TARGETS sluice_core EXPORT sluice-core-targets
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT core
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT core NAMELINK_COMPONENT core
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT core)
# sluice_testing (and so include/sluice/testing/) is a build-tree-only helper.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/sluice"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT core
  FILES_MATCHING PATTERN "*.h"
  PATTERN "testing" EXCLUDE)
sluice_install_export(core)

# --- redis ----------------------------------------------------------------------
# sluice::redis (include/sluice/backends/redis.h is installed with the core
# headers). A static sluice_redis carries its private dependencies (hiredis,
# Boost headers) as link-only entries: the package config finds them.
if(TARGET sluice_redis)
  install(TARGETS sluice_redis EXPORT sluice-redis-targets
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT redis
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT redis NAMELINK_COMPONENT redis
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT redis)
  sluice_install_export(redis)
endif()

# --- zstd -----------------------------------------------------------------------
# sluice::zstd (include/sluice/zstd.h is installed with the core headers). A
# static sluice_zstd carries libzstd as a link-only entry: the package config
# finds it.
if(TARGET sluice_zstd)
  install(TARGETS sluice_zstd EXPORT sluice-zstd-targets
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT zstd
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT zstd NAMELINK_COMPONENT zstd
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT zstd)
  sluice_install_export(zstd)
endif()

# --- rocksdb --------------------------------------------------------------------
# sluice::rocksdb (include/sluice/backends/rocksdb.h is installed with the core
# headers); RocksDB itself is a link-only dependency the package config finds.
if(TARGET sluice_rocksdb)
  install(TARGETS sluice_rocksdb EXPORT sluice-rocksdb-targets
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT rocksdb
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT rocksdb NAMELINK_COMPONENT rocksdb
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT rocksdb)
  sluice_install_export(rocksdb)
endif()

# --- package config and version -----------------------------------------------
# While the major version is 0, a minor release may break the API.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_sluice_compat SameMinorVersion)
else()
  set(_sluice_compat SameMajorVersion)
endif()
write_basic_package_version_file("${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${_sluice_compat})
unset(_sluice_compat)
# The config file only refers to CMAKE_CURRENT_LIST_DIR, so one generated file
# serves both the build tree and the install tree.
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/sluiceConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/sluiceConfig.cmake"
  INSTALL_DESTINATION "${SLUICE_INSTALL_CMAKEDIR}")
install(FILES "${PROJECT_BINARY_DIR}/sluiceConfig.cmake" "${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake"
  DESTINATION "${SLUICE_INSTALL_CMAKEDIR}"
  COMPONENT core)

# --- pkg-config -----------------------------------------------------------------
# sluice.pc is configured (@ONLY) at install time, for the prefix actually
# installed to: CMAKE_INSTALL_PREFIX or `cmake --install --prefix P` alike.
# Directories are written relative to ${prefix} unless GNUInstallDirs made them
# absolute. -std=c++20 is the consumer's business and does not belong in Cflags.
set(SLUICE_PC_CFLAGS "")
if(BUILD_SHARED_LIBS)
  set(SLUICE_PC_CFLAGS " -DSLUICE_SHARED_LIBRARY")  # as sluice::core's PUBLIC definition
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(SLUICE_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(SLUICE_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
set(SLUICE_PC_NAME "${PROJECT_NAME}")
set(SLUICE_PC_DESCRIPTION "${PROJECT_DESCRIPTION}")
set(SLUICE_PC_VERSION "${PROJECT_VERSION}")
set(_sluice_pc_code "")
foreach(_var NAME DESCRIPTION VERSION LIBDIR INCLUDEDIR CFLAGS)
  string(APPEND _sluice_pc_code "set(SLUICE_PC_${_var} [==[${SLUICE_PC_${_var}}]==])\n")
endforeach()
install(CODE
  "${_sluice_pc_code}set(SLUICE_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
configure_file([==[${PROJECT_SOURCE_DIR}/cmake/sluice.pc.in]==]
               [==[${PROJECT_BINARY_DIR}/pkgconfig/sluice.pc]==] @ONLY)"
  COMPONENT core)
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/sluice.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
  COMPONENT core)
unset(_sluice_pc_code)
