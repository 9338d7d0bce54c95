# Writes the man page woundphase.1 from the program's --help: help2man formats the top-level help
# and --version; every subcommand's --help follows in its own subsection.
#   cmake -DWOUNDPHASE=path/to/woundphase -DHELP2MAN=path/to/help2man -DOUT=woundphase.1 -P manpage.cmake
execute_process(COMMAND ${WOUNDPHASE} --help OUTPUT_VARIABLE top RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${WOUNDPHASE} --help failed (${status})")
endif()

# CLI11 lists the subcommands after "Subcommands:", one "  name  description" line each.
string(FIND "${top}" "Subcommands:" at)
set(subcommands "")
if(at GREATER -1)
  string(SUBSTRING "${top}" ${at} -1 tail)
  string(REPLACE "\n" ";" tail_lines "${tail}")
  foreach(line IN LISTS tail_lines)
    if(line MATCHES "^  ([a-z][a-z0-9_-]*)( |$)")
      list(APPEND subcommands ${CMAKE_MATCH_1})
    endif()
  endforeach()
endif()

set(include "[SUBCOMMANDS]\n")
foreach(sub IN LISTS subcommands)
  execute_process(COMMAND ${WOUNDPHASE} ${sub} --help OUTPUT_VARIABLE help RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${WOUNDPHASE} ${sub} --help failed (${status})")
  endif()
  # CLI11 prints the path it was run as: the page says the program's name.
  string(REPLACE "${WOUNDPHASE}" "woundphase" help "${help}")
  # Verbatim roff: backslashes doubled, lines that would read as requests escaped.
  string(REPLACE "\\" "\\\\" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(APPEND include ".SS \"woundphase ${sub}\"\n.nf\n${help}.fi\n")
endforeach()
string(APPEND include "[SEE ALSO]\nThe README (/usr/share/doc/woundphase/README.md) describes every command, option and output file.\n")
file(WRITE ${OUT}.include "${include}")

execute_process(
  COMMAND ${HELP2MAN} --no-info --section 1
          --name "healing-phase classifiers of diabetic foot ulcers"
          --include ${OUT}.include --output ${OUT} ${WOUNDPHASE}
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "help2man failed (${status})")
endif()
