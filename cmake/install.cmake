# install.cmake — `cmake --install`: the command, libvlm (static and shared), vlm.h, a
# pkg-config file, a CMake package (find_package(vlm): vlm::vlm shared, vlm::vlm_static), the
# runtime data in share/vlm; and CPack's Debian package with Debian's runtime packages.
install(TARGETS vlm RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vlm-lib vlm-shared
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Unspecified)
install(FILES ${CMAKE_SOURCE_DIR}/include/vlm.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_SOURCE_DIR}/assets/concepts.txt ${CMAKE_SOURCE_DIR}/assets/bpe_simple_vocab_16e6.txt.gz
              ${CMAKE_SOURCE_DIR}/assets/models.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/vlm)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/assets/web DESTINATION ${CMAKE_INSTALL_DATADIR}/vlm)

# What a static link needs besides libvlm.a (the shared library records its own).
set(VLM_PC_REQUIRES_PRIVATE "vulkan libpng libjpeg zlib libcjson libwebp")
set(VLM_PC_LIBS_PRIVATE "-L${VLM_OPENBLAS_OPENMP_DIR} -Wl,-rpath,${VLM_OPENBLAS_OPENMP_DIR} -lopenblas -fopenmp -lpthread -lm")
file(RELATIVE_PATH VLM_PC_PREFIX_REL ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})   # relocatable
configure_file(${CMAKE_SOURCE_DIR}/cmake/vlm.pc.in ${CMAKE_BINARY_DIR}/vlm.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/vlm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

include(CMakePackageConfigHelpers)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/vlmConfig.cmake.in ${CMAKE_BINARY_DIR}/vlmConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlm
                              PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vlmConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/vlmConfig.cmake ${CMAKE_BINARY_DIR}/vlmConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlm)

# cpack -G DEB (in the build folder): vlm_<version>_<arch>.deb, installing under /usr.
set(CPACK_PACKAGE_NAME vlm)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vlm maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "local vision-language and segmentation models (SAM, CLIP, SmolVLM) on Vulkan and CPU")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Debian 12's runtime packages of the -dev packages the build uses (scripts/setup.sh)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libgomp1, libvulkan1, libpng16-16, libjpeg62-turbo, zlib1g, libopenblas0-openmp, libcjson1, libwebp7, libmicrohttpd12, libcurl4")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mesa-vulkan-drivers")
include(CPack)
