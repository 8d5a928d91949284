# What every consumer project builds once byol is available to it: consumer.cpp against
# byol::byol and, when the byol build made byol::data (BYOL_EXPECT_DATA), consumer_data.cpp
# against it. Each consumer's CMakeLists.txt includes this file after making byol available.
#
# Both compile with -Wall -Wextra -Wshadow -Werror: a user's warnings must not come from byol's
# headers. In the add_subdirectory and fetchcontent consumers byol's headers are not system
# headers, so the check is real there (LibTorch's, from its imported target, are).
#
# g++ 14 at -O3 reports a false -Warray-bounds and -Wstringop-overflow in libstdc++'s
# std::vector<bool> as inlined into LibTorch's torch::autograd::Function<T>::apply (any custom
# autograd function, byol's loss among them): a user who builds with -Werror turns those two off,
# as README's Compatibility section says, and so do these consumers.
set(byol_consumer_warnings
    "$<$<OR:$<CXX_COMPILER_ID:GNU>,$<CXX_COMPILER_ID:Clang>,$<CXX_COMPILER_ID:AppleClang>>:-Wall;-Wextra;-Wshadow;-Werror>")
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 14)
  list(APPEND byol_consumer_warnings -Wno-array-bounds -Wno-stringop-overflow)
endif()
add_executable(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer.cpp)
target_link_libraries(consumer PRIVATE byol::byol)
target_compile_options(consumer PRIVATE ${byol_consumer_warnings})
if(BYOL_EXPECT_DATA)
  if(NOT TARGET byol::data)
    message(FATAL_ERROR "byol built byol::data, but this consumer does not see it")
  endif()
  add_executable(consumer_data ${CMAKE_CURRENT_LIST_DIR}/consumer_data.cpp)
  target_link_libraries(consumer_data PRIVATE byol::data)
  target_compile_options(consumer_data PRIVATE ${byol_consumer_warnings})
endif()
