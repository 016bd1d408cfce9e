from livepilot.cli import main

main()
