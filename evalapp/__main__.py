from evalapp.cli import main

raise SystemExit(main())
