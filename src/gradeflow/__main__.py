from gradeflow.cli import main

main()
