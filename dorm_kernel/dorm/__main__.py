from dorm.cli import main

main()
