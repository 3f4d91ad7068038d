// Package csvsafe writes the CSV files rosterd hands to people — the card
// export, a sync plan — so that no spreadsheet runs a cell as a formula
// (CSV injection, OWASP "CSV Injection").
//
// Every CSV writer in rosterd goes through Writer; Cell is its one rule:
//
//   - A cell whose first character, after any leading white space, is one
//     of = + - @, a tab or a carriage return is a formula to Excel,
//     LibreOffice and Google Sheets. It gets a leading apostrophe, which
//     those read as "this cell is text": " =HYPERLINK(…)" becomes
//     "' =HYPERLINK(…)".
//   - A cell in which such a character follows a ";" or "," (or a tab),
//     again after any white space, is a formula too once a spreadsheet
//     splits the line on that character — a European Excel splits on ";",
//     and people paste columns into any of them. "a;=1+1" is harmless as
//     one cell and a formula as the second of two. Neutralising it takes
//     two things, and the Writer does both: the cell gets the apostrophe
//     on the whole cell (the OWASP rule, so that the cell as a whole reads
//     as text), and it is written quoted ("'a;=1+1"), because a quoted
//     field is one field to every spreadsheet, whatever it splits on — so
//     the part after the ";" never becomes a cell of its own. An
//     apostrophe in front of that part instead would alter the value in
//     the middle, which no reader could undo.
//
// A cell that begins with an apostrophe is left as it is, unless a formula
// follows the apostrophes ("'=1"): that one gets another, so that Uncell,
// which the import reads every cell through, gives back exactly what was
// exported. So Cell is applied once per cell, by the Writer, and not
// before. The apostrophe is a visible change of the value;
// that is the price OWASP accepts, and so do we: a value that begins with
// "-" (a negative number, "-ops") shows with an apostrophe too.
package csvsafe
