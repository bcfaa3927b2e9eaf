/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: shop
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1-log

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
CHANGE MASTER TO MASTER_USE_GTID=slave_pos;

-- A corresponding to the above master-data CHANGE-MASTER settings to the slave gtid state is printed later in the file.

--
-- Alternately, following is the position of the binary logging from SHOW MASTER STATUS at point of backup.
-- Use this when creating a slave of the master server where the backup was made.
-- The new server will be connecting to the master server where the backup was taken.
--

-- CHANGE MASTER TO MASTER_LOG_FILE='bin.000001', MASTER_LOG_POS=17812;

--
-- Table structure for table `VALUES`
--

DROP TABLE IF EXISTS `VALUES`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `VALUES` (
  `(` int(11) DEFAULT NULL,
  `VALUES` varchar(20) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `VALUES`
--

LOCK TABLES `VALUES` WRITE;
/*!40000 ALTER TABLE `VALUES` DISABLE KEYS */;
INSERT IGNORE INTO `VALUES` (`(`, `VALUES`) VALUES (1,'VALUES (');
INSERT IGNORE INTO `VALUES` (`(`, `VALUES`) VALUES (2,');');
INSERT IGNORE INTO `VALUES` (`(`, `VALUES`) VALUES (3,'-- x');
/*!40000 ALTER TABLE `VALUES` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `audit`
--

DROP TABLE IF EXISTS `audit`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `audit` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `item` int(11) DEFAULT NULL,
  `at` datetime DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `audit`
--

LOCK TABLES `audit` WRITE;
/*!40000 ALTER TABLE `audit` DISABLE KEYS */;
/*!40000 ALTER TABLE `audit` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Temporary table structure for view `cheap`
--

DROP TABLE IF EXISTS `cheap`;
/*!50001 DROP VIEW IF EXISTS `cheap`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `cheap` AS SELECT
 NULL AS `id`,
 NULL AS `name` */;
SET character_set_client = @saved_cs_client;

--
-- Table structure for table `empty_t`
--

DROP TABLE IF EXISTS `empty_t`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `empty_t` (
  `a` int(11) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `empty_t`
--

LOCK TABLES `empty_t` WRITE;
/*!40000 ALTER TABLE `empty_t` DISABLE KEYS */;
/*!40000 ALTER TABLE `empty_t` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `items`
--

DROP TABLE IF EXISTS `items`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `items` (
  `id` int(11) NOT NULL,
  `name` varchar(100) DEFAULT NULL,
  `note` text DEFAULT NULL,
  `price` decimal(10,2) DEFAULT NULL,
  `data` blob DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `items`
--

LOCK TABLES `items` WRITE;
/*!40000 ALTER TABLE `items` DISABLE KEYS */;
INSERT IGNORE INTO `items` (`id`, `name`, `note`, `price`, `data`) VALUES (1,'apple','plain',1.50,NULL);
INSERT IGNORE INTO `items` (`id`, `name`, `note`, `price`, `data`) VALUES (2,'it\'s (tricky); VALUES -- x','line1\nline2	tab',2.00,'\0');
INSERT IGNORE INTO `items` (`id`, `name`, `note`, `price`, `data`) VALUES (3,'quote \"dq\" \\ back','(',3.25,'a\0b');
INSERT IGNORE INTO `items` (`id`, `name`, `note`, `price`, `data`) VALUES (4,'',')',0.00,'');
/*!40000 ALTER TABLE `items` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW BEGIN INSERT INTO audit (item, at) VALUES (NEW.id, NOW()); END 
*/;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Table structure for table `many`
--

DROP TABLE IF EXISTS `many`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `many` (
  `id` int(11) NOT NULL,
  `s` varchar(200) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `many`
--

LOCK TABLES `many` WRITE;
/*!40000 ALTER TABLE `many` DISABLE KEYS */;
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (1,'row 1 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (2,'row 2 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (3,'row 3 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (4,'row 4 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (5,'row 5');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (6,'row 6 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (7,'row 7 it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (8,'row 8 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (9,'row 9 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (10,'row 10');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (11,'row 11 it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (12,'row 12 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (13,'row 13 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (14,'row 14 it\'s it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (15,'row 15');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (16,'row 16 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (17,'row 17 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (18,'row 18 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (19,'row 19 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (20,'row 20');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (21,'row 21 it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (22,'row 22 it\'s it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (23,'row 23 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (24,'row 24 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (25,'row 25');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (26,'row 26 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (27,'row 27 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (28,'row 28 it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (29,'row 29 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (30,'row 30');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (31,'row 31 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (32,'row 32 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (33,'row 33 it\'s it\'s it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (34,'row 34 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (35,'row 35\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (36,'row 36 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (37,'row 37 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (38,'row 38 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (39,'row 39 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (40,'row 40');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (41,'row 41 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (42,'row 42 it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (43,'row 43 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (44,'row 44 it\'s it\'s it\'s it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (45,'row 45');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (46,'row 46 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (47,'row 47 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (48,'row 48 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (49,'row 49 it\'s it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (50,'row 50');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (51,'row 51 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (52,'row 52 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (53,'row 53 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (54,'row 54 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (55,'row 55\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (56,'row 56 it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (57,'row 57 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (58,'row 58 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (59,'row 59 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (60,'row 60');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (61,'row 61 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (62,'row 62 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (63,'row 63 it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (64,'row 64 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (65,'row 65');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (66,'row 66 it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (67,'row 67 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (68,'row 68 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (69,'row 69 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (70,'row 70\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (71,'row 71 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (72,'row 72 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (73,'row 73 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (74,'row 74 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (75,'row 75');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (76,'row 76 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (77,'row 77 it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (78,'row 78 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (79,'row 79 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (80,'row 80');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (81,'row 81 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (82,'row 82 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (83,'row 83 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (84,'row 84 it\'s it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (85,'row 85');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (86,'row 86 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (87,'row 87 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (88,'row 88 it\'s it\'s it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (89,'row 89 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (90,'row 90');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (91,'row 91 it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (92,'row 92 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (93,'row 93 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (94,'row 94 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (95,'row 95');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (96,'row 96 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (97,'row 97 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (98,'row 98 it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (99,'row 99 it\'s it\'s it\'s it\'s\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (100,'row 100');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (101,'row 101 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (102,'row 102 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (103,'row 103 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (104,'row 104 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (105,'row 105\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (106,'row 106 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (107,'row 107 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (108,'row 108 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (109,'row 109 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (110,'row 110\\');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (111,'row 111 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (112,'row 112 it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (113,'row 113 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (114,'row 114 it\'s it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (115,'row 115');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (116,'row 116 it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (117,'row 117 it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (118,'row 118 it\'s it\'s it\'s');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (119,'row 119 it\'s it\'s it\'s it\'s\n-- Dumping data for table `fake`\nINSERT INTO x VALUES (1);');
INSERT IGNORE INTO `many` (`id`, `s`) VALUES (120,'row 120');
/*!40000 ALTER TABLE `many` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `we``ird`
--

DROP TABLE IF EXISTS `we``ird`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `we``ird` (
  `k` int(11) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `we``ird`
--

LOCK TABLES `we``ird` WRITE;
/*!40000 ALTER TABLE `we``ird` DISABLE KEYS */;
INSERT IGNORE INTO `we``ird` (`k`) VALUES (1);
INSERT IGNORE INTO `we``ird` (`k`) VALUES (2);
INSERT IGNORE INTO `we``ird` (`k`) VALUES (3);
/*!40000 ALTER TABLE `we``ird` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Dumping events for database 'shop'
--
/*!50106 SET @save_time_zone= @@TIME_ZONE */ ;
/*!50106 DROP EVENT IF EXISTS `purge_audit` */;
DELIMITER ;;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;;
/*!50003 SET character_set_client  = utf8mb3 */ ;;
/*!50003 SET character_set_results = utf8mb3 */ ;;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;;
/*!50003 SET @saved_time_zone      = @@time_zone */ ;;
/*!50003 SET time_zone             = 'SYSTEM' */ ;;
/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `purge_audit` ON SCHEDULE EVERY 1 DAY STARTS '2026-11-22 04:45:49' ON COMPLETION NOT PRESERVE ENABLE DO DELETE FROM audit WHERE at < NOW() - INTERVAL 30 DAY 
*/ ;;
/*!50003 SET time_zone             = @saved_time_zone */ ;;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;;
/*!50003 SET character_set_client  = @saved_cs_client */ ;;
/*!50003 SET character_set_results = @saved_cs_results */ ;;
/*!50003 SET collation_connection  = @saved_col_connection */ ;;
DELIMITER ;
/*!50106 SET TIME_ZONE= @save_time_zone */ ;

--
-- Dumping routines for database 'shop'
--
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP PROCEDURE IF EXISTS `add_item` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `add_item`(IN p INT)
BEGIN INSERT INTO items (id,name) VALUES (p,'x'),(p+1000,'y'); END
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP PROCEDURE IF EXISTS `evil` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `evil`()
BEGIN

INSERT INTO audit (item, at)
VALUES (1, NOW()), (2, NOW());
END
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Final view structure for view `cheap`
--

/*!50001 DROP VIEW IF EXISTS `cheap`*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 SET @saved_cs_results         = @@character_set_results */;
/*!50001 SET @saved_col_connection     = @@collation_connection */;
/*!50001 SET character_set_client      = utf8mb3 */;
/*!50001 SET character_set_results     = utf8mb3 */;
/*!50001 SET collation_connection      = utf8mb3_general_ci */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */
/*!50001 VIEW `cheap` AS select `items`.`id` AS `id`,`items`.`name` AS `name` from `items` where `items`.`price` < 2 */;
/*!50001 SET character_set_client      = @saved_cs_client */;
/*!50001 SET character_set_results     = @saved_cs_results */;
/*!50001 SET collation_connection      = @saved_col_connection */;

-- The deferred gtid setting for slave corresponding to the master-data CHANGE-MASTER follows

-- Preferably use GTID to start replication from GTID position:

SET GLOBAL gtid_slave_pos='0-9-60';
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2026-11-22  4:52:15
