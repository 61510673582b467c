minik_add_library(minik_api_table
  SOURCES table.cc table_util.cc table_core.cc table_workloads.cc table_other.cc
  DEPS minik_api_registry minik_common)
