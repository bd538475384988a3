from synthesis.cli import main

raise SystemExit(main())
