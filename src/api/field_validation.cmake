# minik_api_fieldvalidation: server-side field validation (fieldValidation=Strict|Warn|Ignore):
# unknown/duplicate fields and decode type errors of built-in kinds, checked against the schema
# of protobuf_schema.cc; resource.Quantity parsing and canonical strings (quantity.h).
minik_add_library(minik_api_fieldvalidation
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/field_validation.cc
          ${CMAKE_CURRENT_LIST_DIR}/quantity.cc
  DEPS minik_api_protobuf)
