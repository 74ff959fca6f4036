"""The four kinds of campaign project (四大类), as the city counts them: a module of its
own, without the database, so the command line names them in its help without importing
the projects module."""

CATEGORIES = ("项目前期推进", "重大项目建设", "征迁交地", "两逾")
