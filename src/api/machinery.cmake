minik_add_library(minik_api_machinery SOURCES errors.cc DEPS minik_common)
