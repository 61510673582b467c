# minik_api_conversion: conversion between served versions of kinds stored in another version
# (autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler, as upstream converts them).
minik_add_library(minik_api_conversion
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/conversion.cc
  DEPS minik_common)
