# EdgeDL as a firmware user C module for CMake-based ports (ESP32 with ESP-IDF, rp2):
#   idf.py -D USER_C_MODULES=/path/to/neuroedge/device/native/micropython.cmake build
# (or list this file in your own top-level usermod cmake file).
add_library(usermod_edgedl INTERFACE)

# Every C file here is part of the module, as in the natmod Makefile.
file(GLOB EDGEDL_SOURCES ${CMAKE_CURRENT_LIST_DIR}/*.c)
target_sources(usermod_edgedl INTERFACE ${EDGEDL_SOURCES})

target_include_directories(usermod_edgedl INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
)

target_link_libraries(usermod INTERFACE usermod_edgedl)
