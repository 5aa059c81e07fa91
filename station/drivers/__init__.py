"""Hardware edges. Each device sits behind a small protocol with a production adapter and a
software twin (virtual chip over vpcd, replayed camera frames, mock pins, PNG display)."""
